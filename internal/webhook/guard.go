package webhook

import (
	"errors"
	"net"
	"syscall"
	"time"
)

// dialer connects to receivers; unless allowPrivate, it refuses loopback
// and private networks, which a customer must not reach through convo.
func dialer(allowPrivate bool) *net.Dialer {
	d := &net.Dialer{Timeout: 5 * time.Second}
	if !allowPrivate {
		// Checked on the address actually dialled, so DNS cannot smuggle a private target in.
		d.Control = func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || isPrivate(ip) {
				return ErrPrivateTarget
			}
			return nil
		}
	}
	return d
}

// ErrPrivateTarget is the error of an attempt refused by the guard.

var ErrPrivateTarget = errors.New("webhook target is on a loopback or private network (set CONVO_WEBHOOK_ALLOW_PRIVATE=true to allow)")

// isPrivate reports whether ip is loopback, private, link-local, unspecified or multicast.
func isPrivate(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() ||
		// Carrier-grade NAT, shared address space.
		(ip.To4() != nil && ip.To4()[0] == 100 && ip.To4()[1]&0xc0 == 64)
}
