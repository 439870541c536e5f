/* placeholder: publisher sources land here */
#include "pub.h"
