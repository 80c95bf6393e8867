// Package docker holds the tests of the docker compose deployment in this directory: they parse
// compose.yaml, the Dockerfile and the Fluent Bit configuration and check them against the
// repository, because Docker cannot run in the test environment.
package docker
