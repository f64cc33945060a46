// Multi-server Redis deployments for integration tests, built from
// RedisServer (free loopback ports, temporary directories, stopped by PID):
//
//   SentinelGroup sentinels;      // a master, a replica, three Sentinels
//   sentinels.url();              // "redis+sentinel://127.0.0.1:S1,…/qm-master"
//   sentinels.master().crash();   // SIGKILL: the Sentinels fail over in a few seconds
//
//   ClusterGroup cluster;         // three masters, all 16384 slots covered
//   cluster.url();                // "redis+cluster://127.0.0.1:P1,…"
//   cluster.reshard(0, 1, 500);   // redis-cli --cluster reshard … --cluster-yes
//
// Every wait is bounded; a deployment that does not come up throws
// std::runtime_error.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "redis_server.h"

namespace quotamilter::test {

class SentinelGroup {
public:
    // Sentinels with down-after-milliseconds 1000 and failover-timeout 3000:
    // a failover completes in a few seconds. A `password`: the master and
    // the replica require it (requirepass, masterauth) and the Sentinels
    // use it (auth-pass); the Sentinels themselves require none.
    explicit SentinelGroup(std::string master_name = "qm-master", int sentinel_count = 3,
                           std::string password = {});

    std::string url() const;  // with ":PASSWORD@" when there is one
    const std::string& master_name() const { return master_name_; }
    RedisServer& master() { return *master_; }
    RedisServer& replica() { return *replica_; }
    std::vector<std::unique_ptr<RedisServer>>& sentinels() { return sentinels_; }

    // The master's port according to the first Sentinel that answers (0: none).
    int master_port_per_sentinels() const;
    // Until every Sentinel knows the replica and the other Sentinels, so that
    // a failover can happen (hello messages go out every 2 s).
    void wait_until_failover_ready(std::chrono::seconds limit);
    // Until the replica has acknowledged every write of the master so far.
    void wait_for_replica(std::chrono::seconds limit);

private:
    std::string master_name_;
    std::string password_;
    std::unique_ptr<RedisServer> master_;
    std::unique_ptr<RedisServer> replica_;
    std::vector<std::unique_ptr<RedisServer>> sentinels_;
};

class ClusterGroup {
public:
    // `master_count` masters, each with `replicas_per_master` replicas
    // (cluster-node-timeout 2000 ms: a replica takes over a few seconds
    // after its master dies); cluster-require-full-coverage no, so a
    // stopped node only takes its own slots away. A `password`: every node
    // requires it (requirepass, masterauth).
    explicit ClusterGroup(int master_count = 3, int replicas_per_master = 0, std::string password = {});

    std::string url() const;  // with ":PASSWORD@" when there is one
    RedisServer& node(std::size_t i) { return *nodes_.at(i); }
    std::size_t size() const { return nodes_.size(); }
    std::string node_id(std::size_t i) const;

    void flush_all();  // FLUSHALL on every running master
    // Node `i` is a master now (ROLE).
    bool is_master(std::size_t i) const;
    // The index of a replica of master `i` (INFO replication), or size().
    std::size_t replica_of(std::size_t i) const;
    // Until replica `replica` has every write of its master so far.
    void wait_for_replica(std::size_t replica, std::chrono::seconds limit);
    // Moves `slots` slots (and their keys) from node `from` to node `to`
    // while clients keep working: redis-cli --cluster reshard.
    void reshard(std::size_t from, std::size_t to, int slots);
    // The slots node `i` serves now (CLUSTER NODES, "myself" line).
    std::vector<bool> slots_of(std::size_t i) const;

private:
    void wait_until_ok(std::chrono::seconds limit);

    std::string password_;
    std::vector<std::unique_ptr<RedisServer>> nodes_;
};

}  // namespace quotamilter::test
