module github.com/imdsd/imdsd

go 1.26.0
