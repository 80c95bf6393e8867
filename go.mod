module github.com/natwatch/natwatch

go 1.26

require (
	github.com/apapsch/go-jsonmerge/v2 v2.0.0 // indirect
	github.com/expr-lang/expr v1.17.8 // indirect
	github.com/fluent/fluent-bit-go v0.0.0-20230731091245-a7a013e2473c // indirect
	github.com/google/uuid v1.3.1 // indirect
	github.com/influxdata/influxdb-client-go/v2 v2.14.0 // indirect
	github.com/influxdata/line-protocol v0.0.0-20200327222509-2487e7298839 // indirect
	github.com/oapi-codegen/runtime v1.0.0 // indirect
	github.com/philhofer/fwd v1.2.0 // indirect
	github.com/tinylib/msgp v1.6.5 // indirect
	github.com/ugorji/go/codec v1.2.11 // indirect
	golang.org/x/mod v0.18.0 // indirect
	golang.org/x/net v0.26.0 // indirect
	golang.org/x/tools v0.22.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
