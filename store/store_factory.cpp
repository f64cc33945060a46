// open_store(): picks the implementation from the URL.
#include <stdexcept>

#include "store/key_layout.h"
#include "store/memory_store.h"
#include "store/quota_store.h"
#include "store/cluster_store.h"
#include "store/redis_pool.h"
#include "store/redis_store.h"
#include "store/redis_url.h"
#include "store/sentinel_link.h"

namespace quotamilter::store {

std::unique_ptr<QuotaStore> open_store(const StoreOptions& options) {
    if (!key_layout::valid_prefix(options.key_prefix))
        throw std::invalid_argument("invalid key prefix '" + options.key_prefix +
                                    "': it must not contain '{' or '}' (the hash tag)");
    if (options.timeout.count() <= 0)
        throw std::invalid_argument("the store timeout must be positive");
    if (options.url == "memory:") return make_memory_store(options);
    const RedisTopology topology = parse_redis_topology(options.url);
    switch (topology.kind) {
        case RedisTopology::Kind::sentinel:
            return make_redis_store(
                std::make_unique<SentinelLink>(topology, options.timeout, options.pool_size), options);
        case RedisTopology::Kind::cluster:
            return make_cluster_store(topology, options);
        case RedisTopology::Kind::single:
            break;
    }
    return make_redis_store(
        std::make_unique<RedisPool>(topology.endpoint, options.timeout, options.pool_size), options);
}

}  // namespace quotamilter::store
