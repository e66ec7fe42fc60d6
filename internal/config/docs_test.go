package config

import (
	"os"
	"strings"
	"testing"
)

// The README's configuration reference and the shipped configuration file
// must name every key, its variable and its default.
func TestEveryKeyDocumented(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	shipped, err := os.ReadFile("../../packaging/etcd-rejoin.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		row := "| `" + k.Name + "` | `" + k.Env + "`"
		if k.Name == "peer-client-urls" {
			row = "| `" + k.Name + "` | `" + EnvOtherPeers + "`, `" + k.Env + "`"
		}
		if !strings.Contains(string(readme), row) {
			t.Errorf("README lacks the row for %s (%s)", k.Name, row)
		}
		leaf := k.Name[strings.LastIndex(k.Name, ".")+1:]
		if !strings.Contains(string(shipped), "#"+leaf+" = ") {
			t.Errorf("packaging/etcd-rejoin.toml lacks %q", "#"+leaf+" = ")
		}
	}
}
