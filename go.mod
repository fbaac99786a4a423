module github.com/inferencebench/bench

go 1.26

require github.com/inferencebench/bench/pkg/envelope v0.0.0

replace github.com/inferencebench/bench/pkg/envelope => ./pkg/envelope
