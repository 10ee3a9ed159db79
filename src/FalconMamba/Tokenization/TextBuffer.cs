using System.Runtime.CompilerServices;

namespace FalconMamba.Tokenization;

/// <summary>
/// Text being tokenized, with the original offsets of every character: <c>Start[i]..End[i]</c> is the UTF-16 range of
/// the input that produced <c>Chars[i]</c> (several characters may share one range after a normalizer or the byte-level
/// mapping). <see cref="Pieces"/> are the current pre-tokens as <c>[start, end)</c> ranges over <see cref="Chars"/>; Id is -1, or the fixed id of an added token.
/// One instance is reused per thread, so encoding allocates no per-word objects.
/// </summary>
internal sealed class TextBuffer
{
    public char[] Chars = new char[256];
    public int[] Start = new int[256];
    public int[] End = new int[256];
    public int Length;
    public List<(int Start, int End, int Id)> Pieces = new();

    public ReadOnlySpan<char> Span(int start, int end) => Chars.AsSpan(start, end - start);

    public void Clear() { Length = 0; Pieces.Clear(); }

    public void Reserve(int extra)
    {
        int need = Length + extra;
        if (need <= Chars.Length) return;
        int cap = Math.Max(need, Chars.Length * 2);
        Array.Resize(ref Chars, cap);
        Array.Resize(ref Start, cap);
        Array.Resize(ref End, cap);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Append(char c, int start, int end)
    {
        if (Length == Chars.Length) Reserve(1);
        Chars[Length] = c; Start[Length] = start; End[Length] = end;
        Length++;
    }

    /// <summary>Appends text whose characters map one-to-one onto the input starting at <paramref name="origin"/>.</summary>
    public void AppendIdentity(ReadOnlySpan<char> text, int origin)
    {
        Reserve(text.Length);
        text.CopyTo(Chars.AsSpan(Length));
        for (int i = 0; i < text.Length; i++) { Start[Length + i] = origin + i; End[Length + i] = origin + i + 1; }
        Length += text.Length;
    }

    /// <summary>Exchanges contents with another buffer (stages that rewrite the text build into a spare one).</summary>
    public void SwapWith(TextBuffer other)
    {
        (Chars, other.Chars) = (other.Chars, Chars);
        (Start, other.Start) = (other.Start, Start);
        (End, other.End) = (other.End, End);
        (Length, other.Length) = (other.Length, Length);
        (Pieces, other.Pieces) = (other.Pieces, Pieces);
    }
}
