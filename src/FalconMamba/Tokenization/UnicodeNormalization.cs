using System.Text;

namespace FalconMamba.Tokenization;

/// <summary>
/// Unicode normalization (UAX #15: NFC, NFD, NFKC, NFKD) from generated tables, because .NET's
/// <see cref="string.Normalize(NormalizationForm)"/> needs ICU and is a no-op under InvariantGlobalization.
/// Decompose (tables hold full decompositions; Hangul is algorithmic), put combining marks in canonical order,
/// then for the composed forms apply the canonical composition algorithm.
/// </summary>
internal static class UnicodeNormalization
{
    static readonly Dictionary<int, byte> Ccc = new();
    static readonly Dictionary<int, int[]> Nfd = Load(UnicodeNormalizationData.Nfd);
    static readonly Dictionary<int, int[]> Nfkd = Load(UnicodeNormalizationData.Nfkd);
    static readonly Dictionary<long, int> Compose = new();

    // Hangul syllable arithmetic (Unicode §3.12).
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    const int NCount = VCount * TCount, SCount = LCount * NCount;

    static UnicodeNormalization()
    {
        var c = UnicodeNormalizationData.Ccc;
        for (int i = 0; i < c.Length; i += 2) Ccc[c[i]] = (byte)c[i + 1];
        var p = UnicodeNormalizationData.Compositions;
        for (int i = 0; i < p.Length; i += 3) Compose[((long)p[i] << 21) | (uint)p[i + 1]] = p[i + 2];
    }

    static Dictionary<int, int[]> Load(int[] data)
    {
        var d = new Dictionary<int, int[]>();
        for (int i = 0; i < data.Length;)
        {
            int cp = data[i], n = data[i + 1];
            d[cp] = data.AsSpan(i + 2, n).ToArray();
            i += 2 + n;
        }
        return d;
    }

    static int CombiningClass(int cp) => cp < 0x300 ? 0 : Ccc.TryGetValue(cp, out byte c) ? c : 0;

    /// <summary>Normalizes <paramref name="s"/>; lone surrogates are kept as they are.</summary>
    public static string Normalize(ReadOnlySpan<char> s, NormalizationForm form)
    {
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        var table = compat ? Nfkd : Nfd;
        var cps = new List<int>(s.Length + 4);
        for (int i = 0; i < s.Length;)
        {
            int cp;
            int w = 1;
            if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) { cp = char.ConvertToUtf32(s[i], s[i + 1]); w = 2; }
            else cp = s[i];
            i += w;
            if (cp >= SBase && cp < SBase + SCount)
            {
                int sIndex = cp - SBase;
                cps.Add(LBase + sIndex / NCount);
                cps.Add(VBase + sIndex % NCount / TCount);
                if (sIndex % TCount != 0) cps.Add(TBase + sIndex % TCount);
            }
            else if (table.TryGetValue(cp, out var d)) cps.AddRange(d);
            else cps.Add(cp);
        }
        // Canonical ordering: stable sort of each run of non-starters by combining class.
        for (int i = 1; i < cps.Count; i++)
        {
            int c = CombiningClass(cps[i]);
            if (c == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int pc = CombiningClass(cps[j - 1]);
                if (pc <= c) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
        if (compose) ComposeInPlace(cps);
        var sb = new StringBuilder(cps.Count + 4);
        foreach (int cp in cps)
        {
            if (cp < 0x10000) sb.Append((char)cp);
            else sb.Append(char.ConvertFromUtf32(cp));
        }
        return sb.ToString();
    }

    /// <summary>Canonical composition (UAX #15 §1.3): a character joins the last starter unless blocked.</summary>
    static void ComposeInPlace(List<int> cps)
    {
        if (cps.Count == 0) return;
        int starter = -1;
        int lastClass = -1; // -1: nothing kept since the starter (adjacent)
        int w = 0;
        for (int r = 0; r < cps.Count; r++)
        {
            int cp = cps[r];
            int cc = CombiningClass(cp);
            if (starter >= 0 && (lastClass == -1 ? true : lastClass < cc) && TryCompose(cps[starter], cp, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (cc == 0) { starter = w; lastClass = -1; }
            else lastClass = cc;
            cps[w++] = cp;
        }
        cps.RemoveRange(w, cps.Count - w);
    }

    static bool TryCompose(int a, int b, out int composite)
    {
        // Hangul L+V and LV+T.
        if (a >= LBase && a < LBase + LCount && b >= VBase && b < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a >= SBase && a < SBase + SCount && (a - SBase) % TCount == 0 && b > TBase && b < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return Compose.TryGetValue(((long)a << 21) | (uint)b, out composite);
    }
}
