package member

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxRecvMsgSize bounds one gRPC answer: what etcd-rejoin asks for (status,
// member lists, a probe key, snapshot chunks) is small, and a broken or
// hostile member must not make it allocate without bound.
const maxRecvMsgSize = 8 << 20

// maxPasswordFile bounds what is read from a password file.
const maxPasswordFile = 4 << 10

// Auth is the etcd user etcd-rejoin authenticates as when etcd's auth is
// on. The password is read from PasswordFile at each use (a rotated password
// is picked up); it never appears in the configuration or the environment.
type Auth struct {
	Username, PasswordFile string
}

// password reads the password file ("" without a user). A trailing line
// break is not part of the password.
func (a Auth) password() (string, error) {
	if a.Username == "" {
		return "", nil
	}
	b, err := os.ReadFile(a.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("read the password of etcd user %s: %w", a.Username, err)
	}
	if len(b) > maxPasswordFile {
		return "", fmt.Errorf("password file %s of etcd user %s: larger than %d bytes", a.PasswordFile, a.Username, maxPasswordFile)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// ErrAuth is wrapped by errors where etcd refused etcd-rejoin's credentials
// or permissions (etcd auth is on): a reason to wait and say so, never a
// sign of a lost quorum.
var ErrAuth = errors.New("etcd refused the credentials")

// authErrors are etcd's answers that mean ErrAuth.
var authErrors = []error{
	rpctypes.ErrUserEmpty, rpctypes.ErrUserNotFound, rpctypes.ErrAuthFailed,
	rpctypes.ErrPermissionDenied, rpctypes.ErrRoleNotGranted,
	rpctypes.ErrPermissionNotGranted, rpctypes.ErrInvalidAuthToken,
}

// isAuth reports whether err is one of etcd's authentication or permission
// errors.
func isAuth(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrAuth) {
		return true
	}
	e := rpctypes.Error(err)
	for _, a := range authErrors {
		if errors.Is(e, a) || strings.Contains(err.Error(), rpctypes.ErrorDesc(a)) {
			return true
		}
	}
	return false
}

// newClient is clientv3.New, whose error wraps ErrAuth when the members
// refused the credentials (clientv3 authenticates as it connects).
func newClient(cfg clientv3.Config) (*clientv3.Client, error) {
	cli, err := clientv3.New(cfg)
	if err != nil && strings.Contains(err.Error(), rpctypes.ErrorDesc(rpctypes.ErrGRPCNotSupportedForLearner)) {
		return nil, fmt.Errorf("%w: %w", ErrLearner, err)
	}
	return cli, authWrap(err)
}

// authWrap makes an authentication or permission error errors.Is-able
// against ErrAuth; other errors are returned as they are.
func authWrap(err error) error {
	if isAuth(err) && !errors.Is(err, ErrAuth) {
		return fmt.Errorf("%w: %w", ErrAuth, err)
	}
	return err
}
