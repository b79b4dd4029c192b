// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package daemon

import "github.com/sirupsen/logrus"

// familyFields adds to f the key-value pairs (key, value, ...) whose value
// is set: an IPv6-only node has no IPv4 network, subnet or address, and a
// single-stack one no IPv6, and a log line should not print "invalid
// Prefix" for them. A value is set unless it has an IsValid method that
// says false, or is the int 0.
func familyFields(f logrus.Fields, kv ...any) logrus.Fields {
	for i := 0; i+1 < len(kv); i += 2 {
		switch v := kv[i+1].(type) {
		case interface{ IsValid() bool }:
			if !v.IsValid() {
				continue
			}
		case int:
			if v == 0 {
				continue
			}
		}
		f[kv[i].(string)] = kv[i+1]
	}
	return f
}
