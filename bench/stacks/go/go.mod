module kspanbench/stacksvc

go 1.19
