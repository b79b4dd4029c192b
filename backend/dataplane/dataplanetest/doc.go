// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package dataplanetest holds FakeDataplane, an in-memory dataplane.Dataplane
// that mirrors the kernel's behaviour where weft depends on it (cascading
// deletes, ENETDOWN for routes over a down link, notifications, overruns),
// the RunConformance suite that both the fake and netlinkdp must pass so
// the fake cannot drift, and Snapshot, the canonical text dump used by
// golden tests against either.
package dataplanetest
