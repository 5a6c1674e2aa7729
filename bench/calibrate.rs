//! Calibrates the estimator: fits one weight per feature and tokenizer family to exact counts,
//! and writes `src/estimate/tables.rs`.
//!
//!     cargo run --release --features calibration --example calibrate            # fit, write the tables, print errors
//!     cargo run --release --features calibration --example calibrate -- --check # print the errors of the current tables
//!
//! Samples: slices of the first 70% of each file of `bench/corpus` (prose in six languages,
//! Rust and Python code, JSON) at the sizes of the golden data, short prose in other scripts
//! (Greek, Arabic, Hebrew, Hindi, Thai, Vietnamese), and synthetic edge cases (runs, digits,
//! base64, emoji, RTL, ...), drawn with a fixed seed different from the golden data's. The last
//! 30% of each corpus file is held out: `tests/estimate.rs` measures the error there. Exact counts come from this library's
//! exact engines, which the conformance tests hold to the Python reference packages.
//!
//! The fit minimises the mean relative error, each category weighing the same: iteratively
//! reweighted least squares on relative residuals, which converges to the L1 fit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kano_tokenizer::calibration::{feature, Features};
use kano_tokenizer::{EncodingName, Family, HfTokenizer, Registry, TokenizerSource};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A small deterministic generator (xorshift64*), so the samples are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
}

struct Sample {
    category: String,
    text: String,
}

fn corpus_samples(rng: &mut Rng) -> Vec<Sample> {
    let mut out = Vec::new();
    for name in CORPUS {
        let text = std::fs::read_to_string(root().join("bench/corpus").join(name)).expect("corpus");
        let mut chars: Vec<char> = text.chars().collect();
        chars.truncate(chars.len() * 7 / 10);
        for size in [16, 50, 200, 512, 1000, 2000, 8000, 32000] {
            let repeats = if size <= 2000 { 12 } else { 4 };
            for _ in 0..repeats {
                let start = rng.below(chars.len().saturating_sub(size).max(1));
                let slice: String = chars[start..(start + size).min(chars.len())].iter().collect();
                let category =
                    if std::env::var_os("BY_SIZE").is_some() { format!("{name}:{size}") } else { name.to_string() };
                out.push(Sample { category, text: slice });
            }
        }
    }
    out
}

/// The corpus files (`bench/corpus/README.md` says where each comes from).
const CORPUS: [&str; 9] = [
    "prose_en.txt",
    "prose_de.txt",
    "prose_ja.txt",
    "prose_zh.txt",
    "prose_ko.txt",
    "prose_ru.txt",
    "code_rust.rs",
    "code_python.py",
    "data_json.json",
];

/// Short prose in scripts the corpus lacks, written for this tool.
const OTHER_SCRIPTS: [(&str, &str); 6] = [
    (
        "prose-el",
        "Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις του κόσμου. Κάθε \
         χρόνο χιλιάδες επισκέπτες ανεβαίνουν στην Ακρόπολη για να δουν τον Παρθενώνα. Οι κάτοικοι \
         πίνουν καφέ στις πλατείες, συζητούν για πολιτική και περπατούν στα στενά δρομάκια της Πλάκας. \
         Το καλοκαίρι η ζέστη είναι έντονη, γι' αυτό πολλοί φεύγουν για τα νησιά του Αιγαίου. Η \
         ελληνική γλώσσα έχει γραπτή ιστορία πάνω από τρεις χιλιάδες χρόνια.",
    ),
    (
        "prose-ar",
        "تعد القاهرة من أكبر المدن في العالم العربي، ويعيش فيها ملايين الناس. يمر نهر النيل عبر \
         المدينة، وعلى ضفافه مقاه ومطاعم يجلس فيها الأصدقاء في المساء. يدرس الطلاب في الجامعات \
         القديمة والحديثة، ويعمل كثير من السكان في التجارة والسياحة. في الصيف ترتفع درجات الحرارة \
         كثيرا، لذلك يفضل الناس الخروج بعد غروب الشمس. اللغة العربية تكتب من اليمين إلى اليسار ولها \
         تاريخ أدبي طويل.",
    ),
    (
        "prose-he",
        "ירושלים היא עיר עתיקה שבה נפגשות תרבויות רבות. בשווקים אפשר לקנות תבלינים, פירות טריים \
         ולחם חם. תלמידים רבים לומדים באוניברסיטאות, ובערב הרחובות מלאים באנשים שיוצאים לבתי קפה. \
         העברית נכתבת מימין לשמאל, והיא חזרה להיות שפה מדוברת לפני קצת יותר ממאה שנה.",
    ),
    (
        "prose-hi",
        "भारत एक विशाल देश है जहाँ अनेक भाषाएँ बोली जाती हैं। दिल्ली इसकी राजधानी है और यहाँ हर दिन \
         लाखों लोग काम पर जाते हैं। बाज़ारों में मसालों की खुशबू फैली रहती है और लोग चाय पीते हुए बातें \
         करते हैं। बरसात के मौसम में खेतों में हरियाली छा जाती है। हिंदी देवनागरी लिपि में लिखी जाती है \
         और इसका साहित्य बहुत समृद्ध है।",
    ),
    (
        "prose-th",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทยและเป็นเมืองที่มีผู้คนมากมาย ทุกเช้าผู้คนจะเดินทางไป\
         ทำงานด้วยรถไฟฟ้าและเรือในคลอง ตลาดริมทางขายอาหารอร่อยหลายชนิดตั้งแต่เช้าจนถึงดึก \
         ภาษาไทยไม่มีการเว้นวรรคระหว่างคำ แต่จะเว้นวรรคเมื่อจบประโยคหรือเปลี่ยนความคิด",
    ),
    (
        "prose-vi",
        "Hà Nội là thủ đô của Việt Nam, một thành phố có lịch sử hơn một nghìn năm. Mỗi buổi sáng, \
         người dân đi xe máy qua những con phố đông đúc và dừng lại ăn phở bên vỉa hè. Hồ Hoàn Kiếm \
         nằm ở trung tâm thành phố, nơi nhiều người đến tập thể dục và đi dạo. Tiếng Việt được viết \
         bằng chữ Latinh với nhiều dấu thanh điệu.",
    ),
];

/// Slices of the short prose in other scripts, whole and in pieces.
fn other_script_samples(rng: &mut Rng) -> Vec<Sample> {
    let mut out = Vec::new();
    for (category, text) in OTHER_SCRIPTS {
        let chars: Vec<char> = text.chars().collect();
        out.push(Sample { category: category.to_string(), text: text.to_string() });
        for _ in 0..12 {
            let len = rng.range(20, chars.len());
            let start = rng.below(chars.len() - len + 1);
            out.push(Sample { category: category.to_string(), text: chars[start..start + len].iter().collect() });
        }
    }
    out
}

/// Synthetic edge cases: the shapes of the golden data's edge cases, with other parameters.
fn synthetic_samples(rng: &mut Rng) -> Vec<Sample> {
    let mut out = Vec::new();
    let mut push = |category: &str, text: String| out.push(Sample { category: category.to_string(), text });
    for _ in 0..12 {
        let random = |rng: &mut Rng, alphabet: &str, n: usize| -> String {
            let a: Vec<char> = alphabet.chars().collect();
            (0..n).map(|_| a[rng.below(a.len())]).collect()
        };
        push("newlines", "\n".repeat(rng.range(2, 60)));
        push("crlf", "line one\r\nline two\r\n\r\n".repeat(rng.range(1, 12)));
        push("tabs", "\tkey:\t\tvalue\n".repeat(rng.range(1, 12)));
        push("special-literal", format!("hello <|endoftext|> world <|fim_prefix|>{}", rng.below(1000)));
        push("emoji-zwj", "👨‍👩‍👧‍👦 family, 👍🏽 ok, 🏳️‍🌈 flag ".repeat(rng.range(1, 8)));
        push("combining", "e\u{301} a\u{308} n\u{303} ".repeat(rng.range(1, 30)));
        push("rtl", "مرحبا بالعالم שלום עולם ".repeat(rng.range(1, 8)));
        push("hangul-thai-devanagari", "안녕하세요 สวัสดีครับ नमस्ते दुनिया ".repeat(rng.range(1, 8)));
        let n = rng.range(5, 8000);
        push("digits", random(rng, "0123456789", n));
        for c in ["a", "x", ".", "-", "=", "*", "#", "_", "0", "z"] {
            let category =
                if std::env::var_os("BY_CHAR").is_some() { format!("one-char-run:{c}") } else { "one-char-run".into() };
            push(&category, c.repeat(rng.range(50, 30000)));
        }
        push("spaces-run", " ".repeat(rng.range(50, 30000)) + "x");
        let b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let n = rng.range(50, 30000);
        push("base64ish", random(rng, b64, n));
        push("url", format!("https://example.com/path/{}?q=token%20count&lang=en#frag", rng.next() % 1_000_000_000));
        push("control", "a\u{0}b\u{1}c\u{1b}d\u{7f}e".repeat(rng.range(1, 6)));
        push("mixed-cjk-latin", "Rust の tokenizer は速い。中文和English混合。".repeat(rng.range(1, 6)));
        push("math", "∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ ≤ ∞ ".repeat(rng.range(1, 10)));
    }
    out
}

/// An exact counter and the family it calibrates.
struct Target {
    key: String,
    family: Family,
    count: Box<dyn Fn(&str) -> u64>,
}

fn targets() -> Vec<Target> {
    let registry = Registry::with_config(Default::default());
    let mut out = Vec::new();
    for name in [EncodingName::R50kBase, EncodingName::P50kBase, EncodingName::Cl100kBase, EncodingName::O200kBase] {
        let encoding = registry.encoding(name).expect("encoding");
        out.push(Target {
            key: name.as_str().into(),
            family: name.family(),
            count: Box::new(move |t| encoding.count(t)),
        });
    }
    for (dir, family) in [
        ("all-MiniLM-L6-v2", Family::WordPiece),
        ("gpt2", Family::ByteLevelBpe),
        ("llama-style-bpe", Family::ByteFallbackBpe),
        ("t5-style-unigram", Family::Unigram),
    ] {
        let path = root().join("tests/fixtures/tokenizers").join(dir).join("tokenizer.json");
        let tokenizer = HfTokenizer::load(&TokenizerSource::File(path)).expect("fixture tokenizer");
        assert_eq!(tokenizer.family(), family);
        out.push(Target {
            key: format!("hf:{dir}:no_special"),
            family,
            count: Box::new(move |t| tokenizer.count(t, false).expect("count")),
        });
    }
    out
}

/// Solves `a x = b` for a symmetric positive definite `a` (Gaussian elimination, pivoting).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap();
        a.swap(col, pivot);
        b.swap(col, pivot);
        for row in col + 1..n {
            let factor = a[row][col] / a[col][col];
            for k in col..n {
                a[row][k] -= factor * a[col][k];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    x
}

/// Fits weights minimising the category-balanced mean relative error.
fn fit(rows: &[(usize, [f64; feature::COUNT], f64)], category_weight: &[f64]) -> [f64; feature::COUNT] {
    let categories = category_weight.len();
    let mut per_category = vec![0usize; categories];
    for (c, _, _) in rows {
        per_category[*c] += 1;
    }
    let mut weights = vec![1.0; rows.len()];
    let mut beta = [0.0; feature::COUNT];
    for _ in 0..30 {
        let n = feature::COUNT;
        let mut ata = vec![vec![0.0; n]; n];
        let mut atb = vec![0.0; n];
        for ((c, x, y), w) in rows.iter().zip(&weights) {
            // Relative residual: (x.beta - y) / y, so the row is x / y against 1.
            let w = w * category_weight[*c] / per_category[*c] as f64;
            for i in 0..n {
                let xi = x[i] / y;
                atb[i] += w * xi;
                for j in 0..n {
                    ata[i][j] += w * xi * x[j] / y;
                }
            }
        }
        // A light ridge keeps features that never vary in a family's samples at 0.
        for (i, row) in ata.iter_mut().enumerate() {
            row[i] += 1e-6;
        }
        let solved = solve(ata, atb);
        beta.copy_from_slice(&solved);
        for ((_, x, y), w) in rows.iter().zip(weights.iter_mut()) {
            let estimate: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum();
            *w = 1.0 / ((estimate - y).abs() / y).max(0.005);
        }
    }
    beta
}

fn features_f64(text: &str) -> [f64; feature::COUNT] {
    let scanned = Features::scan(text);
    let mut out = [0.0; feature::COUNT];
    for (o, v) in out.iter_mut().zip(scanned.values) {
        *o = v as f64;
    }
    out
}

fn write_tables(path: &Path, fitted: &BTreeMap<&'static str, [f64; feature::COUNT]>) {
    let mut out = String::from(
        "//! Estimator weights per tokenizer family, one per feature of `features::f`.\n\
         //! Generated by `cargo run --release --example calibrate`; do not edit by hand.\n\n",
    );
    for (name, weights) in fitted {
        let list: Vec<String> = weights.iter().map(|w| format!("{w:.6}")).collect();
        out.push_str(&format!(
            "pub(super) const {name}: [f64; super::features::f::COUNT] = [\n    {},\n];\n",
            list.join(", ")
        ));
    }
    std::fs::write(path, out).expect("write tables");
}

fn const_name(family: Family) -> &'static str {
    match family {
        Family::R50k => "R50K",
        Family::P50k => "P50K",
        Family::Cl100k => "CL100K",
        Family::O200k => "O200K",
        Family::WordPiece => "WORDPIECE",
        Family::ByteLevelBpe => "BYTE_LEVEL_BPE",
        Family::ByteFallbackBpe => "BYTE_FALLBACK_BPE",
        Family::Unigram => "UNIGRAM",
        other => panic!("no weight table name for {other:?}"),
    }
}

fn main() {
    let check_only = std::env::args().any(|a| a == "--check");
    let mut rng = Rng(0x6b61_6e6f_2026_1122);
    let mut samples = corpus_samples(&mut rng);
    samples.extend(other_script_samples(&mut rng));
    samples.extend(synthetic_samples(&mut rng));
    let mut category_ids: BTreeMap<String, usize> = BTreeMap::new();
    for s in &samples {
        let next = category_ids.len();
        category_ids.entry(s.category.clone()).or_insert(next);
    }
    let features: Vec<_> = samples.iter().map(|s| features_f64(&s.text)).collect();
    // Real content weighs more: its error target is 10%, the synthetic cases' 25%. Code, whose
    // short slices vary most, a little more again.
    let mut category_weight = vec![1.0; category_ids.len()];
    for (name, &id) in &category_ids {
        if name.starts_with("code") {
            category_weight[id] = 12.0;
        } else if name.starts_with("prose") || name.starts_with("data") {
            category_weight[id] = 8.0;
        }
    }

    let mut fitted = BTreeMap::new();
    println!("mean relative error per category ({} samples)", samples.len());
    for target in targets() {
        let mut rows = Vec::new();
        for (s, x) in samples.iter().zip(&features) {
            // Relative error to 1 token for texts of none (whitespace in WordPiece).
            let y = (target.count)(&s.text).max(1);
            if !s.text.is_empty() {
                rows.push((category_ids[&s.category], *x, y as f64));
            }
        }
        let beta = if check_only {
            *kano_tokenizer::calibration::weights(target.family)
        } else {
            fit(&rows, &category_weight)
        };
        if !target.key.starts_with("hf:") || !fitted.contains_key(const_name(target.family)) {
            fitted.insert(const_name(target.family), beta);
        }
        let mut errors: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
        for (c, x, y) in &rows {
            let estimate: f64 = x.iter().zip(&beta).map(|(a, b)| a * b).sum::<f64>().max(0.0).round().max(1.0);
            let name = category_ids.iter().find(|&(_, &id)| id == *c).unwrap().0;
            let e = errors.entry(name).or_default();
            e.0 += (estimate - y).abs() / y;
            e.1 += 1;
        }
        let line: Vec<String> =
            errors.iter().map(|(k, (sum, n))| format!("{k} {:.1}%", 100.0 * sum / *n as f64)).collect();
        println!("{:28} {}", target.key, line.join(", "));
    }
    if !check_only {
        let path = root().join("src/estimate/tables.rs");
        write_tables(&path, &fitted);
        println!("wrote {}", path.display());
    }
}
