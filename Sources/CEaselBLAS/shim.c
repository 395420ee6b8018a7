#include "CEaselBLAS.h"
