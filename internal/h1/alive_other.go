//go:build !unix

package h1

import (
	"net"
	"syscall"
)

// rawOf gives nothing to peek with here.
func rawOf(net.Conn) syscall.RawConn { return nil }

// aliveRaw cannot peek here: a closed connection is found when it is
// used, and the request is sent again on a new one.
func aliveRaw(syscall.RawConn) bool { return true }
