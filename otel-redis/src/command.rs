//! What the instrumentation knows about Redis commands: canonical names and which arguments are
//! keys (kept in `db.query.text`) and which are values (always `?`).

/// Which arguments of a command are keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keys {
    /// No argument is a key: every argument is shown as `?`.
    None,
    /// The first argument is a key (`GET k`, `HSET k f v`).
    First,
    /// The first two arguments are keys (`RENAME k1 k2`, `LMOVE src dst ...`).
    FirstTwo,
    /// Every argument is a key (`DEL k1 k2`, `MGET k1 k2`).
    All,
    /// Every argument but the last is a key (`BLPOP k1 k2 timeout`).
    AllButLast,
    /// Keys and values alternate (`MSET k1 v1 k2 v2`).
    Pairs,
    /// `EVAL script numkeys key... arg...`: the script (or SHA, or function) first, then the keys.
    Script,
    /// Credentials: nothing after the command name is recorded in any form (`AUTH`, `HELLO`).
    Secret,
}

/// A known command.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) name: &'static str,
    pub(crate) keys: Keys,
}

macro_rules! commands {
    ($($name:literal => $keys:ident),* $(,)?) => {
        &[$(Command { name: $name, keys: Keys::$keys }),*]
    };
}

/// Sorted by name (a test checks), for binary search.
const COMMANDS: &[Command] = commands![
    "ACL" => None, "APPEND" => First, "AUTH" => Secret, "BITCOUNT" => First, "BITFIELD" => First,
    "BITPOS" => First, "BLMOVE" => FirstTwo, "BLPOP" => AllButLast, "BRPOP" => AllButLast,
    "BRPOPLPUSH" => FirstTwo, "BZPOPMAX" => AllButLast, "BZPOPMIN" => AllButLast, "CLIENT" => None,
    "CLUSTER" => None, "COMMAND" => None, "CONFIG" => None, "COPY" => FirstTwo, "DBSIZE" => None,
    "DECR" => First, "DECRBY" => First, "DEL" => All, "DISCARD" => None, "DUMP" => First, "ECHO" => None,
    "EVAL" => Script, "EVALSHA" => Script, "EVALSHA_RO" => Script, "EVAL_RO" => Script, "EXEC" => None,
    "EXISTS" => All, "EXPIRE" => First, "EXPIREAT" => First, "EXPIRETIME" => First, "FCALL" => Script,
    "FCALL_RO" => Script, "FLUSHALL" => None, "FLUSHDB" => None, "FUNCTION" => None, "GEOADD" => First,
    "GEODIST" => First, "GEOHASH" => First, "GEOPOS" => First, "GEOSEARCH" => First, "GET" => First,
    "GETBIT" => First, "GETDEL" => First, "GETEX" => First, "GETRANGE" => First, "GETSET" => First,
    "HDEL" => First, "HELLO" => Secret, "HEXISTS" => First, "HGET" => First, "HGETALL" => First,
    "HINCRBY" => First, "HINCRBYFLOAT" => First, "HKEYS" => First, "HLEN" => First, "HMGET" => First,
    "HMSET" => First, "HRANDFIELD" => First, "HSCAN" => First, "HSET" => First, "HSETNX" => First,
    "HSTRLEN" => First, "HVALS" => First, "INCR" => First, "INCRBY" => First, "INCRBYFLOAT" => First,
    "INFO" => None, "KEYS" => None, "LINDEX" => First, "LINSERT" => First, "LLEN" => First,
    "LMOVE" => FirstTwo, "LPOP" => First, "LPOS" => First, "LPUSH" => First, "LPUSHX" => First,
    "LRANGE" => First, "LREM" => First, "LSET" => First, "LTRIM" => First, "MEMORY" => None,
    "MGET" => All, "MIGRATE" => None, "MSET" => Pairs, "MSETNX" => Pairs, "MULTI" => None,
    "OBJECT" => None, "PERSIST" => First, "PEXPIRE" => First, "PEXPIREAT" => First,
    "PEXPIRETIME" => First, "PFADD" => First, "PFCOUNT" => All, "PFMERGE" => All, "PING" => None,
    "PSETEX" => First, "PSUBSCRIBE" => None, "PTTL" => First, "PUBLISH" => None, "QUIT" => None,
    "READONLY" => None, "RENAME" => FirstTwo, "RENAMENX" => FirstTwo, "RESET" => None,
    "RESTORE" => First, "RPOP" => First, "RPOPLPUSH" => FirstTwo, "RPUSH" => First, "RPUSHX" => First,
    "SADD" => First, "SCAN" => None, "SCARD" => First, "SCRIPT" => None, "SDIFF" => All,
    "SDIFFSTORE" => All, "SELECT" => None, "SET" => First, "SETBIT" => First, "SETEX" => First,
    "SETNX" => First, "SETRANGE" => First, "SINTER" => All, "SINTERSTORE" => All, "SISMEMBER" => First,
    "SMEMBERS" => First, "SMISMEMBER" => First, "SMOVE" => FirstTwo, "SPOP" => First, "SPUBLISH" => None,
    "SRANDMEMBER" => First, "SREM" => First, "SSCAN" => First, "STRLEN" => First, "SUBSCRIBE" => None,
    "SUNION" => All, "SUNIONSTORE" => All, "TIME" => None, "TOUCH" => All, "TTL" => First,
    "TYPE" => First, "UNLINK" => All, "UNSUBSCRIBE" => None, "UNWATCH" => None, "WAIT" => None,
    "WATCH" => All, "XACK" => First, "XADD" => First, "XAUTOCLAIM" => First, "XCLAIM" => First,
    "XDEL" => First, "XLEN" => First, "XPENDING" => First, "XRANGE" => First, "XREVRANGE" => First,
    "XTRIM" => First, "ZADD" => First, "ZCARD" => First, "ZCOUNT" => First, "ZINCRBY" => First,
    "ZLEXCOUNT" => First, "ZMSCORE" => First, "ZPOPMAX" => First, "ZPOPMIN" => First,
    "ZRANDMEMBER" => First, "ZRANGE" => First, "ZRANGEBYLEX" => First, "ZRANGEBYSCORE" => First,
    "ZRANK" => First, "ZREM" => First, "ZREMRANGEBYLEX" => First, "ZREMRANGEBYRANK" => First,
    "ZREMRANGEBYSCORE" => First, "ZREVRANGE" => First, "ZREVRANGEBYLEX" => First,
    "ZREVRANGEBYSCORE" => First, "ZREVRANK" => First, "ZSCAN" => First, "ZSCORE" => First,
];

/// The longest name in the table: every name fits in a `u128`.
const MAX_NAME: usize = 16;

/// A name packed big-endian into a `u128`, zero-padded: one integer compare per probe.
const fn pack(name: &[u8]) -> u128 {
    let mut key = 0u128;
    let mut i = 0;
    while i < MAX_NAME {
        let byte = if i < name.len() { name[i].to_ascii_uppercase() } else { 0 };
        key = (key << 8) | byte as u128;
        i += 1;
    }
    key
}

/// `pack` of every name in `COMMANDS`, in the same order, computed at compile time.
static KEYS: [u128; COMMANDS.len()] = {
    let mut keys = [0u128; COMMANDS.len()];
    let mut i = 0;
    while i < COMMANDS.len() {
        keys[i] = pack(COMMANDS[i].name.as_bytes());
        i += 1;
    }
    keys
};

/// Slots of the open-addressing index below: a power of two, under half full.
const SLOTS: usize = 512;
const EMPTY: u8 = u8::MAX;

/// Where a packed name's probe sequence starts (Fibonacci hashing of both halves).
const fn slot(key: u128) -> usize {
    let folded = (key >> 64) as u64 ^ (key as u64).rotate_left(29);
    (folded.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - SLOTS.trailing_zeros())) as usize
}

/// A hash index into `COMMANDS` (linear probing), built at compile time: a lookup hashes once and
/// usually compares once, where a binary search over the ~200 names took eight compares.
static INDEX: [u8; SLOTS] = {
    assert!(COMMANDS.len() < EMPTY as usize && COMMANDS.len() * 2 < SLOTS);
    let mut index = [EMPTY; SLOTS];
    let mut i = 0;
    while i < COMMANDS.len() {
        let mut at = slot(KEYS[i]);
        while index[at] != EMPTY {
            at = (at + 1) % SLOTS;
        }
        index[at] = i as u8;
        i += 1;
    }
    index
};

/// Looks a command up by name, case-insensitively, without allocating.
pub(crate) fn lookup(name: &[u8]) -> Option<&'static Command> {
    if name.is_empty() || name.len() > MAX_NAME {
        return None;
    }
    // The same packing as `pack`, done the fast way at run time.
    let mut buffer = [0u8; MAX_NAME];
    for (to, from) in buffer.iter_mut().zip(name) {
        *to = from.to_ascii_uppercase();
    }
    let key = u128::from_be_bytes(buffer);
    let mut at = slot(key);
    loop {
        let i = *INDEX.get(at)? as usize;
        if *KEYS.get(i)? == key {
            return COMMANDS.get(i);
        }
        at = (at + 1) % SLOTS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_fits_the_buffer() {
        for pair in COMMANDS.windows(2) {
            assert!(pair[0].name < pair[1].name, "{} before {}", pair[0].name, pair[1].name);
        }
        assert!(COMMANDS.iter().all(|c| c.name.len() <= MAX_NAME && !c.name.as_bytes().contains(&0)));
        assert!(KEYS.windows(2).all(|pair| pair[0] < pair[1]), "packed keys keep the order");
        for command in COMMANDS {
            assert_eq!(lookup(command.name.as_bytes()).map(|c| c.name), Some(command.name));
        }
    }

    #[test]
    fn lookup_is_case_insensitive() {
        assert_eq!(lookup(b"hmset").map(|c| c.name), Some("HMSET"));
        assert_eq!(lookup(b"EvalSha").map(|c| c.keys), Some(Keys::Script));
        assert!(lookup(b"NOSUCHCOMMAND").is_none());
        assert!(lookup(b"").is_none());
        assert!(lookup(&[0xff; 40]).is_none());
    }
}
