//! The fixed text the shop is made of: word lists for product names, the
//! descriptions that test quoting and encoding, the deliberate ties, the
//! special stock codes, the countries.

pub(crate) const COLOURS: &[&str] = &[
    "RED",
    "PINK",
    "BLUE",
    "WHITE",
    "CREAM",
    "IVORY",
    "GREEN",
    "BLACK",
    "SILVER",
    "GOLD",
    "PURPLE",
    "ORANGE",
    "YELLOW",
    "ANTIQUE WHITE",
    "BAROQUE BLACK",
    "TURQUOISE",
];

pub(crate) const MOTIFS: &[&str] = &[
    "RETROSPOT",
    "POLKADOT",
    "PAISLEY",
    "REGENCY",
    "VINTAGE",
    "SPACEBOY",
    "DOLLY GIRL",
    "WOODLAND",
    "ALPHABET",
    "HEART",
    "STAR",
    "BIRD",
    "OWL",
    "ROSE",
    "DAISY",
    "SKULL",
    "UNION JACK",
    "STRAWBERRY",
    "CHERRY",
    "LOVE",
    "GINGHAM",
    "FLORAL",
    "SPOTTY",
    "STRIPE",
    "LACE",
    "MOROCCAN",
    "ENGLISH ROSE",
    "PANTRY",
    "JAM MAKING",
    "KEEP CALM",
    "CIRCUS PARADE",
    "TOADSTOOL",
    "SNOWFLAKE",
    "REINDEER",
    "BUNNY",
    "DINOSAUR",
];

pub(crate) const NOUNS: &[&str] = &[
    "T-LIGHT HOLDER",
    "LANTERN",
    "CAKE TIN",
    "LUNCH BAG",
    "JUMBO BAG",
    "TEA CUP AND SAUCER",
    "DOORMAT",
    "NAPKINS",
    "BUNTING",
    "PHOTO FRAME",
    "CUSHION COVER",
    "HOT WATER BOTTLE",
    "MUG",
    "PLATE",
    "BOWL",
    "CHARM",
    "GARLAND",
    "CANDLE",
    "CLOCK",
    "METAL SIGN",
    "PURSE",
    "NOTEBOOK",
    "WRAP",
    "STICKERS",
    "BAKING CASES",
    "APRON",
    "OVEN GLOVE",
    "TISSUES",
    "PENCILS",
    "MAGNET",
    "KEYRING",
    "COASTER",
    "TRAY",
    "STORAGE JAR",
    "PICNIC BASKET",
    "PARASOL",
    "UMBRELLA",
    "DRAWER KNOB",
    "COAT HANGER",
    "HAND WARMER",
    "SHOPPER BAG",
    "CHOPSTICKS",
    "PARTY CUPS",
    "PAPER PLATES",
    "GIFT TAPE",
    "SOAP DISH",
    "WALL ART",
    "ORNAMENT",
    "DOILY",
    "EGG CUP",
    "TEAPOT",
    "CAKESTAND",
    "JEWELLERY BOX",
    "MIRROR",
    "HOOK",
    "PEG BAG",
    "LIGHT CHAIN",
    "NIGHT LIGHT",
    "SNACK BOX",
    "KITCHEN SCALES",
];

pub(crate) const SETS: &[&str] = &[
    "SET OF 3",
    "SET OF 4",
    "SET OF 6",
    "SET/10",
    "PACK OF 12",
    "PACK OF 72",
    "SET 2",
    "BOX OF 24",
];

pub(crate) const MAKES: &[&str] = &[
    "LARGE",
    "SMALL",
    "MINI",
    "JUMBO",
    "GLASS",
    "WOODEN",
    "ZINC",
    "METAL",
    "ENAMEL",
    "CERAMIC",
    "FELT",
    "PAPER",
    "TIN",
    "HANGING",
    "FROSTED",
    "FELTCRAFT",
];

/// Words a variant description may end with.
pub(crate) const VARIANT_TAILS: &[&str] = &[" ASSORTED", " DESIGN", " LARGE", " SET", " IN BOX"];

/// Usual descriptions given to popular products, by popularity rank, so
/// that even a few thousand rows have CSV quoting, leading and trailing
/// spaces, and characters that are single bytes in cp1252 (`é` 0xE9,
/// `’` 0x92, `£` 0xA3, `€` 0x80, `–` 0x96, `“ ”` 0x93 0x94).
pub(crate) const SPECIAL_MAINS: &[(usize, &str)] = &[
    (1, "SET OF 3 CAKE TINS, PANTRY DESIGN"),
    (3, "CRÈME BRÛLÉE RAMEKIN SET"),
    (5, "DON’T FORGET TO WATER METAL SIGN"),
    (7, "PAPER CHAIN KIT \"50'S CHRISTMAS\""),
    (9, "£5 POUND COIN MONEY BOX"),
    (12, " JUMBO BAG BAROQUE BLACK WHITE"),
    (14, "PARTY BUNTING – UNION JACK"),
    (16, "12\" HEART WREATH, IVORY"),
    (18, "“HOME SWEET HOME” HANGING SIGN"),
    (21, "MÜNCHEN BEER STEIN MUG"),
    (23, "EURO € MONEY TIN"),
    (27, "TEA, COFFEE, SUGAR STORAGE JARS"),
    (33, "NAÏVE FOLK ART HEART "),
    (38, "café latte glass"),
];

/// Products priced in tenths of a penny, by popularity rank.
pub(crate) const THOUSANDTHS_PRICES: &[(usize, i64)] = &[(40, 65), (75, 125), (130, 1_045)];

/// A product whose two descriptions occur equally often in the file, the
/// first one written first (so it must win, as pandas' `value_counts()
/// .idxmax()` picks it). Each probes a different wrong tie-break.
pub(crate) struct TieSpec {
    pub rank: usize,
    pub first: &'static str,
    pub second: &'static str,
    /// The second description's rows spell the code's letter suffix in
    /// lower case: the counts tie only once StockCode is upper-cased.
    pub lower_second: bool,
}

pub(crate) const TIES: &[TieSpec] = &[
    // First is the larger string: "min" picks the wrong one.
    TieSpec {
        rank: 11,
        first: "WHITE MOROCCAN METAL LANTERN",
        second: "CREAM MOROCCAN METAL LANTERN",
        lower_second: false,
    },
    // First is the smaller string: "max" picks the wrong one.
    TieSpec {
        rank: 26,
        first: "BLUE POLKADOT WRAP",
        second: "RED POLKADOT WRAP",
        lower_second: false,
    },
    // Only a trailing space apart: a reader that trims merges them.
    TieSpec {
        rank: 60,
        first: "GLASS STAR FROSTED T-LIGHT HOLDER ",
        second: "GLASS STAR FROSTED T-LIGHT HOLDER",
        lower_second: false,
    },
    // Only the cp1252 byte 0xC9 apart: a wrong decoding merges or mangles them.
    TieSpec {
        rank: 120,
        first: "CAFÉ CREME SAUCER",
        second: "CAFE CREME SAUCER",
        lower_second: false,
    },
    // A tie only after upper-casing StockCode (`84997C` and `84997c`).
    TieSpec {
        rank: 250,
        first: "CHILDRENS CUTLERY POLKADOT BLUE",
        second: "CHILDRENS CUTLERY POLKADOT PINK",
        lower_second: true,
    },
    TieSpec {
        rank: 400,
        first: "HEART OF WICKER SMALL",
        second: "HEART OF WICKER LARGE",
        lower_second: false,
    },
];

/// What is written for stock taken out or found: rows with no customer and
/// a zero price, most with no description at all.
pub(crate) const NOTES: &[&str] = &[
    "?",
    "??",
    "check",
    "damaged",
    "damages",
    "wet damaged",
    "thrown away",
    "Unsaleable, destroyed.",
    "lost",
    "found",
    "smashed",
    "missing",
    "counted",
    "wrong code?",
    "sold as set on dotcom",
    "had been put aside",
    "crushed",
];

/// Countries and their rows in the real file, United Kingdom first.
pub(crate) const COUNTRIES: &[(&str, u32)] = &[
    ("United Kingdom", 495_478),
    ("Germany", 9_495),
    ("France", 8_557),
    ("EIRE", 8_196),
    ("Spain", 2_533),
    ("Netherlands", 2_371),
    ("Belgium", 2_069),
    ("Switzerland", 2_002),
    ("Portugal", 1_519),
    ("Australia", 1_259),
    ("Norway", 1_086),
    ("Italy", 803),
    ("Channel Islands", 758),
    ("Finland", 695),
    ("Cyprus", 622),
    ("Sweden", 462),
    ("Unspecified", 446),
    ("Austria", 401),
    ("Denmark", 389),
    ("Japan", 358),
    ("Poland", 341),
    ("Israel", 297),
    ("USA", 291),
    ("Hong Kong", 288),
    ("Singapore", 229),
    ("Iceland", 182),
    ("Canada", 151),
    ("Greece", 146),
    ("Malta", 127),
    ("United Arab Emirates", 68),
    ("European Community", 61),
    ("RSA", 58),
    ("Lebanon", 45),
    ("Lithuania", 35),
    ("Brazil", 32),
    ("Czech Republic", 30),
    ("Bahrain", 19),
    ("Saudi Arabia", 10),
];
pub(crate) const UK: u8 = 0;
pub(crate) const EIRE: u8 = 3;

/// Prices in thousandths of a pound, and how common each is.
pub(crate) const PRICES: &[(i64, u32)] = &[
    (190, 2),
    (210, 3),
    (290, 3),
    (390, 4),
    (420, 6),
    (550, 4),
    (650, 6),
    (720, 3),
    (790, 3),
    (830, 5),
    (850, 8),
    (1_250, 10),
    (1_450, 5),
    (1_650, 8),
    (1_950, 4),
    (2_100, 7),
    (2_550, 6),
    (2_950, 7),
    (3_750, 5),
    (4_250, 4),
    (4_950, 5),
    (5_950, 3),
    (7_950, 2),
    (8_500, 2),
    (12_750, 1),
    (16_950, 1),
];

/// Quantities of a line, and how common each is.
pub(crate) const QUANTITIES: &[(i64, u32)] = &[
    (1, 16),
    (2, 14),
    (3, 6),
    (4, 8),
    (5, 2),
    (6, 12),
    (8, 4),
    (10, 5),
    (12, 16),
    (16, 1),
    (20, 2),
    (24, 6),
    (25, 1),
    (32, 1),
    (36, 1),
    (48, 2),
    (72, 1),
    (96, 1),
    (100, 1),
    (144, 1),
];
