// Package failpoint marks the steps of a membership change where the fault
// campaign (test/faults) crashes etcd-rejoin on purpose. In the shipped
// binary every Hit is an empty function: the failpoint runtime is compiled in
// only with the build tag "failpoints" (see on.go).
package failpoint

// Names of the failpoints, in the order a rejoin passes them.
const (
	AfterMoveAside = "after-move-aside" // the old data dir was moved aside
	AfterRemove    = "after-remove"     // the stale member entry was removed
	AfterAdd       = "after-add"        // this member was added to the cluster
	AfterStart     = "after-etcd-start" // etcd was started on the new entry
	BeforePromote  = "before-promote"   // the learner is in sync, about to be promoted
)

// All lists every failpoint name.
var All = []string{AfterMoveAside, AfterRemove, AfterAdd, AfterStart, BeforePromote}
