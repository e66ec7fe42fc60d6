package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

// runEtcdutl runs the etcdutl commands that etcd 3.5 and 3.6 both ship
// (snapshot status and restore, defrag, version) with etcdutl's global
// --write-out flag, and returns the exit code.
func runEtcdutl(args []string) int {
	root := &cobra.Command{
		Use:           "etcdutl",
		Short:         "An administrative command line tool for etcd3 (snapshot, defrag, version).",
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple",
		"set the output format (fields, json, protobuf, simple, table)")
	root.AddCommand(
		etcdutl.NewSnapshotCommand(),
		etcdutl.NewDefragCommand(),
		etcdutl.NewVersionCommand(),
	)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		return 1
	}
	return 0
}
