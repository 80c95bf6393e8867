// Command natwatch is the Fluent Bit output plugin. It is built as a shared library with
//
//	go build -buildmode=c-shared -o build/natwatch.so ./plugin
//
// and loaded with `fluent-bit -e build/natwatch.so`. This file holds only the functions Fluent Bit
// calls; instance.go holds what they do.
package main

import "C"

import (
	"unsafe"

	"github.com/fluent/fluent-bit-go/output"
)

// FLBPluginRegister runs once when Fluent Bit loads the library.
//
//export FLBPluginRegister
func FLBPluginRegister(def unsafe.Pointer) int {
	return output.FLBPluginRegister(def, "natwatch",
		"Detects scans, floods and other anomalies in NAT gateway and firewall connection logs")
}

// FLBPluginInit runs once per [OUTPUT] section. Fluent Bit passes the same plugin pointer to every
// call, so the instance's keys can be read only during this call.
//
//export FLBPluginInit
func FLBPluginInit(plugin unsafe.Pointer) int {
	getProperty := func(key string) string {
		return output.FLBPluginConfigKey(plugin, key)
	}

	inst := startInstance(getProperty)
	if inst == nil {
		return output.FLB_ERROR
	}

	output.FLBPluginSetContext(plugin, inst)
	return output.FLB_OK
}

// FLBPluginFlushCtx processes one chunk for the instance that ctx names. With `Workers N` Fluent
// Bit calls it from N threads at once.
//
//export FLBPluginFlushCtx
func FLBPluginFlushCtx(ctx, data unsafe.Pointer, length C.int, tag *C.char) int {
	inst, _ := output.FLBPluginGetContext(ctx).(*instance)
	if inst == nil {
		logMissingInstance()
		return output.FLB_ERROR
	}
	return inst.flush(chunkBytes(data, length), C.GoString(tag))
}

// FLBPluginFlush is the entry point of hosts that do not call FLBPluginFlushCtx. It has no
// instance context, so it works only while exactly one instance is running.
//
//export FLBPluginFlush
func FLBPluginFlush(data unsafe.Pointer, length C.int, tag *C.char) int {
	inst := soleInstance()
	if inst == nil {
		return output.FLB_ERROR
	}
	return inst.flush(chunkBytes(data, length), C.GoString(tag))
}

// FLBPluginExitCtx stops the instance that ctx names. Fluent Bit calls it per instance at shutdown.
//
//export FLBPluginExitCtx
func FLBPluginExitCtx(ctx unsafe.Pointer) int {
	inst, _ := output.FLBPluginGetContext(ctx).(*instance)
	if inst == nil {
		logMissingInstance()
		return output.FLB_ERROR
	}
	inst.stop()
	return output.FLB_OK
}

// FLBPluginExit stops every instance still running. Hosts call it when FLBPluginExitCtx is missing.
//
//export FLBPluginExit
func FLBPluginExit() int {
	stopAllInstances()
	return output.FLB_OK
}

// FLBPluginUnregister frees the name and description that FLBPluginRegister allocated.
//
//export FLBPluginUnregister
func FLBPluginUnregister(def unsafe.Pointer) {
	output.FLBPluginUnregister(def)
}

// chunkBytes returns the chunk as a slice over the host's buffer without copying it. The buffer is
// valid only until the flush call returns. That is safe because Pipeline.Flush reads data only
// during the call and keeps no reference into it afterwards.
func chunkBytes(data unsafe.Pointer, length C.int) []byte {
	if data == nil || length <= 0 {
		return nil
	}
	return unsafe.Slice((*byte)(data), int(length))
}

func main() {}
