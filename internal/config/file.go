package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// tables of the TOML file other than [etcd]: their keys are own keys with
// the table name as prefix.
var ownTables = map[string]bool{"client-tls": true, "peer-tls": true, "client-auth": true}

// file reads the TOML file and applies its values.
func (b *builder) file(path string, read func(string) ([]byte, error)) {
	src := "file " + path
	data, err := read(path)
	if err != nil {
		b.problem("config file", path, "cannot read: %v", err)
		return
	}
	var doc map[string]any
	if _, err := toml.Decode(string(data), &doc); err != nil {
		b.problem("config file", path, "not valid TOML: %s", tomlError(err))
		return
	}
	for _, key := range sortedKeys(doc) {
		b.fileKey(key, doc[key], src)
	}
}

func tomlError(err error) string {
	if pe, ok := err.(toml.ParseError); ok {
		return fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
	}
	return err.Error()
}

func (b *builder) fileKey(key string, value any, src string) {
	switch {
	case key == "etcd":
		b.etcdTable(value, src)
	case ownTables[key]:
		table, ok := value.(map[string]any)
		if !ok {
			b.problem(key, src, "must be a table")
			return
		}
		for _, k := range sortedKeys(table) {
			b.ownValue(key+"."+k, table[k], src)
		}
	default:
		b.ownValue(key, value, src)
	}
}

func (b *builder) ownValue(key string, value any, src string) {
	k, ok := ownKeyByName(key)
	if !ok {
		b.problem(key, src, "unknown key")
		return
	}
	text, err := tomlText(value, k.kind == kURLs)
	if err != nil {
		b.problem(key, src, "%v", err)
		return
	}
	b.setOwn(key, text, src)
}

func (b *builder) etcdTable(value any, src string) {
	table, ok := value.(map[string]any)
	if !ok {
		b.problem("etcd", src, "must be a table of etcd flags")
		return
	}
	for _, flag := range sortedKeys(table) {
		key := "etcd." + flag
		switch {
		case flag == stateFlag:
			b.problem(key, src, "is decided by etcd-rejoin on every start; remove it")
			continue
		case !etcdFlags[flag]:
			b.problem(key, src, "unknown etcd flag (use the flag's name without dashes in front, e.g. data-dir)")
			continue
		}
		text, err := tomlText(table[flag], true)
		if err != nil {
			b.problem(key, src, "%v", err)
			continue
		}
		b.setEtcd(flag, text, src)
	}
}

// tomlText turns a TOML value into the text form etcd flags use. Arrays of
// strings are allowed where lists are (joined with commas).
func tomlText(v any, listOK bool) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case []any:
		if !listOK {
			return "", fmt.Errorf("must be a single value, not a list")
		}
		parts := make([]string, len(x))
		for i, e := range x {
			s, ok := e.(string)
			if !ok {
				return "", fmt.Errorf("list must hold strings, element %d is %T", i+1, e)
			}
			parts[i] = s
		}
		return strings.Join(parts, ","), nil
	case map[string]any:
		return "", fmt.Errorf("must be a value, not a table")
	default:
		return "", fmt.Errorf("unsupported value of type %T", v)
	}
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
