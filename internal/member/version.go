package member

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxVersionBody bounds a /version answer (a few dozen bytes).
const maxVersionBody = 64 << 10

// clusterVersion asks a member's /version for the cluster version etcd has
// decided ("3.5.0"); "" when it has not decided one yet.
func clusterVersion(ctx context.Context, endpoint string, o Options) (string, error) {
	cfg, err := o.clientTLS([]string{endpoint})
	if err != nil {
		return "", err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = cfg
	hc := &http.Client{Transport: tr, Timeout: o.RequestTimeout}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(endpoint, "/")+"/version", nil)
	if err != nil {
		return "", err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("cluster version from %s: %w", endpoint, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("cluster version from %s: GET /version: %s", endpoint, resp.Status)
	}
	var v struct {
		Cluster string `json:"etcdcluster"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxVersionBody)).Decode(&v); err != nil {
		return "", fmt.Errorf("cluster version from %s: %w", endpoint, err)
	}
	if v.Cluster == "not_decided" {
		return "", nil
	}
	return v.Cluster, nil
}
