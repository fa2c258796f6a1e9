print("ccload")
