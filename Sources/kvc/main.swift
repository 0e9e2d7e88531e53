print("kvc")
