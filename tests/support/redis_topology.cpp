#include "redis_topology.h"

#include <sstream>
#include <stdexcept>
#include <thread>

namespace quotamilter::test {
namespace {

using Clock = std::chrono::steady_clock;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
        lines.push_back(line);
    }
    return lines;
}

// "field:value" of an INFO-like reply, or "".
std::string info_field(const std::string& info, const std::string& field) {
    for (const auto& line : lines_of(info))
        if (line.starts_with(field + ":")) return line.substr(field.size() + 1);
    return "";
}

// The value after `name` in a flat name/value list printed by redis-cli.
std::string value_after(const std::string& reply, const std::string& name) {
    const auto lines = lines_of(reply);
    for (std::size_t i = 0; i + 1 < lines.size(); ++i)
        if (lines[i] == name) return lines[i + 1];
    return "";
}

template <typename Ready>
void wait_until(std::chrono::seconds limit, const std::string& what, Ready&& ready) {
    const auto until = Clock::now() + limit;
    while (Clock::now() < until) {
        try {
            if (ready()) return;
        } catch (const std::exception&) {  // a redis-cli that failed: not ready yet
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    throw std::runtime_error("not ready within " + std::to_string(limit.count()) + " s: " + what);
}

}  // namespace

SentinelGroup::SentinelGroup(std::string master_name, int sentinel_count)
    : master_name_(std::move(master_name)) {
    // No delay before a diskless full sync: the replica is in sync at once.
    master_ = std::make_unique<RedisServer>(std::vector<std::string>{"--repl-diskless-sync-delay", "0"});
    replica_ = std::make_unique<RedisServer>(std::vector<std::string>{
        "--replicaof", "127.0.0.1", std::to_string(master_->port()), "--repl-diskless-sync-delay", "0"});
    const std::string config = "sentinel monitor " + master_name_ + " 127.0.0.1 " +
                               std::to_string(master_->port()) + " 2\n" +
                               "sentinel down-after-milliseconds " + master_name_ + " 1000\n" +
                               "sentinel failover-timeout " + master_name_ + " 3000\n" +
                               "sentinel parallel-syncs " + master_name_ + " 1\n";
    for (int i = 0; i < sentinel_count; ++i)
        sentinels_.push_back(std::make_unique<RedisServer>(ConfigFile{config},
                                                           std::vector<std::string>{"--sentinel"}));
}

std::string SentinelGroup::url() const {
    std::string hosts;
    for (const auto& s : sentinels_)
        hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(s->port());
    return "redis+sentinel://" + hosts + "/" + master_name_;
}

int SentinelGroup::master_port_per_sentinels() const {
    for (const auto& s : sentinels_) {
        if (!s->running()) continue;
        try {
            const auto lines = lines_of(s->cli({"SENTINEL", "get-master-addr-by-name", master_name_}));
            if (lines.size() >= 2) return std::stoi(lines[1]);
        } catch (const std::exception&) {
        }
    }
    return 0;
}

void SentinelGroup::wait_until_failover_ready(std::chrono::seconds limit) {
    const std::string others = std::to_string(sentinels_.size() - 1);
    wait_until(limit, "Sentinels know the replica and each other", [&] {
        for (const auto& s : sentinels_) {
            const std::string state = s->cli({"SENTINEL", "master", master_name_});
            if (value_after(state, "num-slaves") != "1" ||
                value_after(state, "num-other-sentinels") != others)
                return false;
        }
        return info_field(replica_->cli({"INFO", "replication"}), "master_link_status") == "up";
    });
}

void SentinelGroup::wait_for_replica(std::chrono::seconds limit) {
    wait_until(limit, "the replica caught up with the master", [&] {
        const std::string master_offset =
            info_field(master_->cli({"INFO", "replication"}), "master_repl_offset");
        const std::string replica_offset =
            info_field(replica_->cli({"INFO", "replication"}), "slave_repl_offset");
        return !master_offset.empty() && master_offset == replica_offset;
    });
}

ClusterGroup::ClusterGroup(int master_count) {
    for (int i = 0; i < master_count; ++i)
        nodes_.push_back(std::make_unique<RedisServer>(std::vector<std::string>{
            "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
            "--cluster-node-timeout", "2000", "--cluster-require-full-coverage", "no"}));
    std::vector<std::string> create{"--cluster", "create"};
    for (const auto& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n->port()));
    create.insert(create.end(), {"--cluster-replicas", "0", "--cluster-yes"});
    nodes_[0]->cli(create, std::chrono::seconds(30));
    wait_until_ok(std::chrono::seconds(20));
}

void ClusterGroup::wait_until_ok(std::chrono::seconds limit) {
    wait_until(limit, "every cluster node says cluster_state:ok", [&] {
        for (const auto& n : nodes_) {
            const std::string info = n->cli({"CLUSTER", "INFO"});
            if (info_field(info, "cluster_state") != "ok" ||
                info_field(info, "cluster_slots_assigned") != "16384" ||
                info_field(info, "cluster_known_nodes") != std::to_string(nodes_.size()))
                return false;
        }
        return true;
    });
}

std::string ClusterGroup::url() const {
    std::string hosts;
    for (const auto& n : nodes_)
        hosts += (hosts.empty() ? "" : ",") + std::string("127.0.0.1:") + std::to_string(n->port());
    return "redis+cluster://" + hosts;
}

std::string ClusterGroup::node_id(std::size_t i) const {
    const auto lines = lines_of(nodes_.at(i)->cli({"CLUSTER", "MYID"}));
    if (lines.empty() || lines[0].empty()) throw std::runtime_error("CLUSTER MYID answered nothing");
    return lines[0];
}

void ClusterGroup::flush_all() {
    for (const auto& n : nodes_)
        if (n->running()) n->cli({"FLUSHALL"});
}

void ClusterGroup::reshard(std::size_t from, std::size_t to, int slots) {
    nodes_.at(from)->cli({"--cluster", "reshard", "127.0.0.1:" + std::to_string(nodes_[from]->port()),
                          "--cluster-from", node_id(from), "--cluster-to", node_id(to),
                          "--cluster-slots", std::to_string(slots), "--cluster-yes"},
                         std::chrono::seconds(60));
}

std::vector<bool> ClusterGroup::slots_of(std::size_t i) const {
    std::vector<bool> owned(16384, false);
    for (const auto& line : lines_of(nodes_.at(i)->cli({"CLUSTER", "NODES"}))) {
        std::istringstream fields(line);
        std::vector<std::string> f;
        for (std::string word; fields >> word;) f.push_back(word);
        if (f.size() < 3 || f[2].find("myself") == std::string::npos) continue;
        for (std::size_t k = 8; k < f.size(); ++k) {
            if (f[k].starts_with("[")) continue;  // a slot in migration
            const std::size_t dash = f[k].find('-');
            const int first = std::stoi(f[k].substr(0, dash));
            const int last = dash == std::string::npos ? first : std::stoi(f[k].substr(dash + 1));
            for (int s = first; s <= last && s < 16384; ++s) owned[static_cast<std::size_t>(s)] = true;
        }
    }
    return owned;
}

}  // namespace quotamilter::test
