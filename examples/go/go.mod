module kano-tokenizer/examples/go

go 1.21

require github.com/kano-tokenizer/kano-tokenizer/bindings/go v0.0.0

// The binding from this repository; a program elsewhere points at its own copy.
replace github.com/kano-tokenizer/kano-tokenizer/bindings/go => ../../bindings/go
