// open_store(): picks the implementation from the URL.
#include <stdexcept>

#include "store/key_layout.h"
#include "store/memory_store.h"
#include "store/quota_store.h"
#include "store/redis_store.h"
#include "store/redis_url.h"

namespace quotamilter::store {

std::unique_ptr<QuotaStore> open_store(const StoreOptions& options) {
    if (!key_layout::valid_prefix(options.key_prefix))
        throw std::invalid_argument("invalid key prefix '" + options.key_prefix +
                                    "': it must not contain '{' or '}' (the hash tag)");
    if (options.timeout.count() <= 0)
        throw std::invalid_argument("the store timeout must be positive");
    if (options.url == "memory:") return make_memory_store(options);
    return make_redis_store(parse_redis_url(options.url), options);
}

}  // namespace quotamilter::store
