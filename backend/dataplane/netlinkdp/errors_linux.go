// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package netlinkdp

import (
	"errors"
	"strings"

	"golang.org/x/sys/unix"
)

func errorsIsUnreachable(err error) bool {
	return errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH)
}

// isOverrun recognises ENOBUFS on a notification socket. The netlink
// library formats some receive errors with %v, so the text is checked too.
func isOverrun(err error) bool {
	return errors.Is(err, unix.ENOBUFS) || strings.Contains(err.Error(), unix.ENOBUFS.Error())
}
