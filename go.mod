module github.com/inferencebench/bench

go 1.26

require (
	github.com/inferencebench/bench/pkg/envelope v0.0.0
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
)

require (
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
)

replace github.com/inferencebench/bench/pkg/envelope => ./pkg/envelope
