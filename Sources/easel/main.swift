import EaselEngine
print("easel")
