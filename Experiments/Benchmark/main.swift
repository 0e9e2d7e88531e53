print("kvc-bench")
