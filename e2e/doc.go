// SPDX-License-Identifier: Apache-2.0
// Copyright 2026 The weft Authors

// Package e2e holds weft's multi-node end-to-end tests: real weftd processes
// in node namespaces, etcd as its own process in its own namespace, pods made
// through the CNI plugin with libcni, real packets between them (see
// internal/cluster). They need root and the binaries `make build` and `make
// cni-plugins` produce; `make test` and `make e2e` run them.
package e2e
