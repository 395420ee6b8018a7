#include "CEaselCPU.h"
