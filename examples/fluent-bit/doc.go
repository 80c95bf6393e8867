// Package fluentbit holds the tests of the Fluent Bit example configurations in this directory:
// every natwatch key must be one that natwatch accepts, with a value it accepts, and every parser
// an input names must be defined in the parsers file.
package fluentbit
