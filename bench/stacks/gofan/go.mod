module kst/gofan

go 1.19
