namespace FalconMamba.Tokenization;

/// <summary>Per-thread working memory for one encode call (reused, so steady-state encoding allocates only the result).</summary>
internal sealed class EncodeScratch
{
    [ThreadStatic] static EncodeScratch? _current;

    /// <summary>The calling thread's scratch.</summary>
    public static EncodeScratch Current => _current ??= new EncodeScratch();

    public readonly TextBuffer Buffer = new();
    public readonly TextBuffer Spare = new();
    public readonly TextBuffer Segment = new();
    public readonly TextBuffer SegmentSpare = new();
    public List<(int Start, int End, int Id)> Pieces = new();
    public readonly List<(int Start, int End, bool Match)> Parts = new();
    public readonly List<(int Start, int End)> Matches = new();
    public readonly List<(int Start, int End, int Id)> Segments = new();
    public char[] PrefixChars = new char[64];
    public char[] RegexChars = new char[64];
    public int[] RegexMap = new int[66];

    // BPE word state.
    public int[] SymbolIds = new int[64];
    public int[] SymbolEnds = new int[64];
    public int[] Prev = new int[64];
    public int[] Next = new int[64];
    public readonly PriorityQueue<int, long> Queue = new();

    // Output accumulation.
    public readonly List<int> Ids = new();
    public readonly List<(int Start, int End)> Offsets = new();

    public void EnsureSymbols(int n)
    {
        if (SymbolIds.Length >= n) return;
        int cap = Math.Max(n, SymbolIds.Length * 2);
        SymbolIds = new int[cap]; SymbolEnds = new int[cap]; Prev = new int[cap]; Next = new int[cap];
    }
}
