// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

package subnet

import "errors"

// Sentinel errors; compare with errors.Is.
var (
	ErrConfigNotFound = errors.New("network config not found")
	ErrLeaseExists    = errors.New("lease key already exists")
	ErrLeaseNotFound  = errors.New("lease not found")
	ErrNoFreeSubnet   = errors.New("no free subnet")
	// ErrLeaseTaken means the subnet we held is now leased by another node.
	ErrLeaseTaken = errors.New("subnet taken by another node")
)

// EventType says what happened to a lease.
type EventType int

// Event types. Added also covers a changed value (the new lease replaces the old).
const (
	EventAdded EventType = iota + 1
	EventRemoved
)

func (t EventType) String() string {
	switch t {
	case EventAdded:
		return "added"
	case EventRemoved:
		return "removed"
	}
	return "unknown"
}

// Event is one change to the set of leases. For EventRemoved only the
// subnets of Lease are meaningful.
type Event struct {
	Type  EventType
	Lease Lease
}
