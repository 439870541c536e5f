/* placeholder: resolver sources land here */
#include "res.h"
