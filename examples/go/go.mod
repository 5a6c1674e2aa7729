module kano-tokenizer/examples/go

go 1.21

require kano-tokenizer/bindings/go v0.0.0

// The binding from this repository; a program elsewhere points at its own copy.
replace kano-tokenizer/bindings/go => ../../bindings/go
