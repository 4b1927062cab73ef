//go:build unix

package h1

import (
	"net"
	"syscall"
)

// rawOf returns nc's file descriptor access, or nil if it has none (a
// net.Pipe, say).
func rawOf(nc net.Conn) syscall.RawConn {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// aliveRaw reports whether an idle connection is still open and has
// nothing to read: a peek that does not wait finds neither the server's
// close nor bytes nobody asked for. nil is taken as alive: a connection that
// cannot be peeked is checked by its use.
func aliveRaw(rc syscall.RawConn) bool {
	if rc == nil {
		return true
	}
	open := false
	var buf [1]byte
	err := rc.Control(func(fd uintptr) {
		// EAGAIN: open and quiet. 0 bytes: the server closed it. Bytes: an
		// answer nobody asked for.
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		open = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK
	})
	return err == nil && open
}
