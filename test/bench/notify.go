package bench

import (
	"fmt"
	"net"
	"os"
	"strings"
)

// notifySocket plays systemd's NOTIFY_SOCKET for one etcd-rejoin process:
// each datagram becomes a "notify: ..." line of its output, stamped on
// arrival.
type notifySocket struct {
	path string
	conn *net.UnixConn
}

func listenNotify(path string, out *output) (*notifySocket, error) {
	_ = os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	s := &notifySocket{path: path, conn: conn}
	go s.read(out)
	return s, nil
}

func (s *notifySocket) read(out *output) {
	buf := make([]byte, 8192)
	for {
		n, err := s.conn.Read(buf)
		if err != nil {
			return
		}
		msg := strings.ReplaceAll(strings.TrimSpace(string(buf[:n])), "\n", " ")
		out.add(notifyLinePrefix + msg)
	}
}

func (s *notifySocket) close() {
	_ = s.conn.Close()
	_ = os.Remove(s.path)
}
