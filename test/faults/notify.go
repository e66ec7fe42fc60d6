package faults

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// notifySocket is a unit's NOTIFY_SOCKET: a unix datagram socket that, like
// systemd's, learns the sender's pid of every message (SO_PASSCRED).
type notifySocket struct {
	path string
	conn *net.UnixConn
}

// message is one datagram: its sender and its assignments in order.
type message struct {
	pid    int
	fields [][2]string
}

func listenNotify(path string) (*notifySocket, error) {
	_ = os.Remove(path)
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket %s: %w", path, err)
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
	}); err != nil || serr != nil {
		conn.Close()
		return nil, fmt.Errorf("notify socket %s: SO_PASSCRED: %w", path, errors.Join(err, serr))
	}
	return &notifySocket{path: path, conn: conn}, nil
}

// read returns the next datagram; an error once the socket is closed.
func (s *notifySocket) read() (message, error) {
	buf := make([]byte, 4096)
	oob := make([]byte, unix.CmsgSpace(unix.SizeofUcred))
	n, oobn, _, _, err := s.conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return message{}, err
	}
	m := message{pid: senderPid(oob[:oobn])}
	for _, line := range strings.Split(string(buf[:n]), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m.fields = append(m.fields, [2]string{k, v})
		}
	}
	return m, nil
}

// senderPid takes the pid out of the SCM_CREDENTIALS message; 0 if none.
func senderPid(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0
	}
	for _, m := range msgs {
		if cred, err := unix.ParseUnixCredentials(&m); err == nil {
			return int(cred.Pid)
		}
	}
	return 0
}

func (s *notifySocket) Close() error {
	err := s.conn.Close()
	_ = os.Remove(s.path)
	return err
}
