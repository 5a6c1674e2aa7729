module github.com/kano-tokenizer/kano-tokenizer/bindings/go

go 1.21
