#include "store/cluster_slots.h"

#include <charconv>

namespace quotamilter::store::cluster {

std::uint16_t crc16(std::string_view bytes) {
    std::uint16_t crc = 0;
    for (unsigned char byte : bytes) {
        crc ^= static_cast<std::uint16_t>(byte << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = static_cast<std::uint16_t>(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    return crc;
}

std::uint16_t key_slot(std::string_view key) {
    const std::size_t open = key.find('{');
    if (open != std::string_view::npos) {
        const std::size_t close = key.find('}', open + 1);
        if (close != std::string_view::npos && close > open + 1)
            key = key.substr(open + 1, close - open - 1);
    }
    return static_cast<std::uint16_t>(crc16(key) % slot_count);
}

std::optional<std::vector<SlotRange>> parse_cluster_slots(const redisReply* reply,
                                                          const std::string& asked_host) {
    if (reply->type != REDIS_REPLY_ARRAY) return std::nullopt;
    std::vector<SlotRange> ranges;
    for (std::size_t i = 0; i < reply->elements; ++i) {
        const redisReply* entry = reply->element[i];
        if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 3 ||
            entry->element[0]->type != REDIS_REPLY_INTEGER ||
            entry->element[1]->type != REDIS_REPLY_INTEGER ||
            entry->element[2]->type != REDIS_REPLY_ARRAY || entry->element[2]->elements < 2)
            return std::nullopt;
        const long long first = entry->element[0]->integer, last = entry->element[1]->integer;
        const redisReply* master = entry->element[2];
        if (first < 0 || last < first || last >= slot_count ||
            master->element[0]->type != REDIS_REPLY_STRING ||
            master->element[1]->type != REDIS_REPLY_INTEGER)
            return std::nullopt;
        std::string host(master->element[0]->str, master->element[0]->len);
        if (host.empty() || host == "?") host = asked_host;
        ranges.push_back({static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last),
                          RedisAddress{host, static_cast<int>(master->element[1]->integer)}});
    }
    return ranges;
}

std::optional<RedisAddress> redirect_address(std::string_view text) {
    // "<MOVED|ASK> <slot> <host>:<port>"; the host may be an IPv6 address.
    const std::size_t space = text.rfind(' ');
    if (space == std::string_view::npos) return std::nullopt;
    const std::string_view address = text.substr(space + 1);
    const std::size_t colon = address.rfind(':');
    if (colon == std::string_view::npos || colon == 0) return std::nullopt;
    int port = 0;
    const auto [end, ec] = std::from_chars(address.data() + colon + 1, address.data() + address.size(), port);
    if (ec != std::errc{} || end != address.data() + address.size() || port <= 0 || port > 65535)
        return std::nullopt;
    return RedisAddress{std::string(address.substr(0, colon)), port};
}

}  // namespace quotamilter::store::cluster
