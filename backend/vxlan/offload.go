// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package vxlan

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/weft-net/weft/subnet"
)

// Kernels before 5.7 corrupt the UDP checksum of VXLAN packets that
// netfilter NATs when the checksum is 0 ("netfilter: nat: never update the
// UDP checksum when it's 0", fixed in 5.7): the receiver drops them and TCP
// to Services stalls for 63 s of retransmissions (flannel #1243, #1279,
// Calico #3145, which turns offload off below 5.7 too).
const fixedMajor, fixedMinor = 5, 7

// ChecksumBuggy reports whether a kernel release (uname -r) predates the
// fix; ok is false when the release cannot be parsed. weftctl doctor judges
// the device by the same reading.
func ChecksumBuggy(release string) (buggy, ok bool) {
	major, minor, ok := parseRelease(release)
	if !ok {
		return false, false
	}
	return major < fixedMajor || (major == fixedMajor && minor < fixedMinor), true
}

// parseRelease reads "major.minor" from the start of a release such as
// "5.4.0-42-generic", "3.10.0-1160.el7.x86_64" or "6.18.44-fc-v669".
func parseRelease(release string) (major, minor int, ok bool) {
	parts := strings.SplitN(release, ".", 3)
	if len(parts) < 2 {
		return 0, 0, false
	}
	major, err := strconv.Atoi(parts[0])
	if err != nil {
		return 0, 0, false
	}
	end := strings.IndexFunc(parts[1], func(r rune) bool { return r < '0' || r > '9' })
	if end == 0 {
		return 0, 0, false
	}
	if end > 0 {
		parts[1] = parts[1][:end]
	}
	minor, err = strconv.Atoi(parts[1])
	return major, minor, err == nil
}

// checksumPolicy decides tx checksum offload for a config value and kernel
// release: enforce says whether to set it at all; on is the value to set.
// "auto" turns offload off on affected kernels and leaves it alone
// elsewhere (an operator may have turned it off for a NATed underlay).
func checksumPolicy(mode, release string) (on, enforce bool) {
	switch mode {
	case subnet.OffloadOn:
		return true, true
	case subnet.OffloadOff:
		return false, true
	}
	if buggy, ok := ChecksumBuggy(release); ok && buggy {
		return false, true
	}
	return true, false
}

// kernelRelease returns uname -r.
func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}
