// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ethtoolValue is the kernel's struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// ifreqData is the kernel's struct ifreq with ifr_data set: 16 bytes of
// name, then the 24-byte union of which the first word is the pointer.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ethtool runs one SIOCETHTOOL command on the link name. The ioctl is
// issued on a netlink socket opened in our namespace: the kernel resolves
// the device name in the socket's namespace, so no thread switching is
// needed.
func (d *Dataplane) ethtool(name string, cmd, data uint32) (uint32, error) {
	if len(name) >= unix.IFNAMSIZ {
		return 0, fmt.Errorf("link name %q: longer than %d bytes", name, unix.IFNAMSIZ-1)
	}
	v := ethtoolValue{cmd: cmd, data: data}
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&v)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(d.ioctl.GetFd()), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&v)
	runtime.KeepAlive(d.ioctl)
	if errno != 0 {
		return 0, errno
	}
	return v.data, nil
}

// TxChecksum reports whether tx checksum offload is on (ETHTOOL_GTXCSUM).
func (d *Dataplane) TxChecksum(name string) (bool, error) {
	v, err := d.ethtool(name, unix.ETHTOOL_GTXCSUM, 0)
	if err != nil {
		return false, fmt.Errorf("get tx checksum offload of %q: %w", name, err)
	}
	return v != 0, nil
}

// SetTxChecksum turns tx checksum offload on or off (ETHTOOL_STXCSUM, the
// ioctl behind `ethtool -K <dev> tx on|off`). Turning it off also turns
// off the offloads that depend on it (TSO, GSO partial), as ethtool does.
func (d *Dataplane) SetTxChecksum(name string, on bool) error {
	var v uint32
	if on {
		v = 1
	}
	if _, err := d.ethtool(name, unix.ETHTOOL_STXCSUM, v); err != nil {
		return fmt.Errorf("set tx checksum offload of %q to %t: %w", name, on, err)
	}
	return nil
}
