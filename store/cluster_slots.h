// Redis Cluster key slots: CRC16 (XMODEM) of the key's hash tag modulo 16384,
// and the slot map of CLUSTER SLOTS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "store/redis_url.h"

namespace quotamilter::store::cluster {

inline constexpr std::uint16_t slot_count = 16384;

// CRC16-CCITT (XMODEM: polynomial 0x1021, initial value 0), as the Cluster spec.
std::uint16_t crc16(std::string_view bytes);

// The slot of a key: of the text between the first '{' and the next '}' when
// that is not empty, else of the whole key (Cluster spec, "hash tags").
std::uint16_t key_slot(std::string_view key);

struct SlotRange {
    std::uint16_t first = 0;
    std::uint16_t last = 0;
    RedisAddress master;
};

// The ranges of a CLUSTER SLOTS reply; an empty host (a node that does not
// know its own address) is `asked_host`. nullopt if the reply is malformed.
std::optional<std::vector<SlotRange>> parse_cluster_slots(const redisReply* reply,
                                                          const std::string& asked_host);

// "MOVED 3999 127.0.0.1:6381" / "ASK 3999 127.0.0.1:6381": the address.
std::optional<RedisAddress> redirect_address(std::string_view error_text);

}  // namespace quotamilter::store::cluster
