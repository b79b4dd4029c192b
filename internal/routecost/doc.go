// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package routecost holds benchmarks, no code: what the kernel charges to
// insert, replace and delete the peer routes weft programs, in the route
// forms weft uses today and in the forms that could replace them, written
// by iproute2's batch mode into a namespace of their own. They measure the
// kernel floor that backend/vxlan cannot go below, and showed that the
// IPv4 form `via GW dev flannel.1 onlink` costs O(N) per insert (see
// Documentation/benchmarks.md, "Route cost at scale").
package routecost
