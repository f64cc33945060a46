#include "store/quota_store.h"
