module kano-tokenizer/bindings/go

go 1.21
