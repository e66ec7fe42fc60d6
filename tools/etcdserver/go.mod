module etcdserver

go 1.26
